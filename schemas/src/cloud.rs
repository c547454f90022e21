//! One row model for every provider's resources, so that the CLI, the console and search treat
//! an EC2 instance, a GCS bucket and an Azure VM alike.

use serde::{Deserialize, Serialize};

use crate::v1;

/// The listings the runner offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    AwsEc2,
    AwsS3,
    GcpCompute,
    GcpStorage,
    AzureVm,
    AzureBlob,
}

impl Service {
    pub const ALL: [Service; 6] =
        [Self::AwsEc2, Self::AwsS3, Self::GcpCompute, Self::GcpStorage, Self::AzureVm, Self::AzureBlob];

    /// `aws.ec2`, `gcp.storage`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsEc2 => "aws.ec2",
            Self::AwsS3 => "aws.s3",
            Self::GcpCompute => "gcp.compute",
            Self::GcpStorage => "gcp.storage",
            Self::AzureVm => "azure.vm",
            Self::AzureBlob => "azure.blob",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The op's audited name.
    pub fn op_name(self) -> &'static str {
        match self {
            Self::AwsEc2 => "aws.ec2.list",
            Self::AwsS3 => "aws.s3.list",
            Self::GcpCompute => "gcp.compute.list",
            Self::GcpStorage => "gcp.storage.list",
            Self::AzureVm => "azure.vm.list",
            Self::AzureBlob => "azure.blob.list",
        }
    }

    pub fn provider(self) -> v1::Provider {
        match self {
            Self::AwsEc2 | Self::AwsS3 => v1::Provider::Aws,
            Self::GcpCompute | Self::GcpStorage => v1::Provider::Gcp,
            Self::AzureVm | Self::AzureBlob => v1::Provider::Azure,
        }
    }

    /// The table's columns, kubectl-like: what a user of the provider's own console expects
    /// first. The CLI prints them; the console shows the same.
    pub fn columns(self) -> &'static [Column] {
        use Field::*;
        // Struct literals, so that the slices are promoted to statics.
        macro_rules! c {
            ($header:literal, $field:expr) => {
                Column { header: $header, field: $field }
            };
        }
        match self {
            Self::AwsEc2 => &[
                c!("ID", Id),
                c!("NAME", Name),
                c!("TYPE", Type),
                c!("STATE", State),
                c!("LOCATION", Location),
                c!("PRIVATE-IP", Attr("private_ip")),
                c!("PUBLIC-IP", Attr("public_ip")),
                c!("CREATED", Created),
            ],
            Self::AwsS3 => &[c!("NAME", Name), c!("LOCATION", Location), c!("CREATED", Created)],
            Self::GcpCompute => &[
                c!("NAME", Name),
                c!("ZONE", Location),
                c!("MACHINE-TYPE", Type),
                c!("STATUS", State),
                c!("INTERNAL-IP", Attr("internal_ip")),
                c!("EXTERNAL-IP", Attr("external_ip")),
                c!("CREATED", Created),
            ],
            Self::GcpStorage => &[
                c!("NAME", Name),
                c!("LOCATION", Location),
                c!("STORAGE-CLASS", Attr("storage_class")),
                c!("CREATED", Created),
            ],
            Self::AzureVm => &[
                c!("NAME", Name),
                c!("RESOURCE-GROUP", Attr("resource_group")),
                c!("LOCATION", Location),
                c!("SIZE", Type),
                c!("POWER-STATE", State),
                c!("CREATED", Created),
            ],
            Self::AzureBlob => &[
                c!("NAME", Name),
                c!("ACCOUNT", Location),
                c!("PUBLIC-ACCESS", Attr("public_access")),
                c!("LEASE", Attr("lease_state")),
                c!("LAST-MODIFIED", Attr("last_modified")),
            ],
        }
    }
}

/// A table column over [`CloudRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    pub field: Field,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Name,
    Type,
    State,
    Location,
    Created,
    /// A provider-specific attribute.
    Attr(&'static str),
}

impl CloudRow {
    /// The cell for `field`; empty when unknown.
    pub fn cell(&self, field: Field) -> &str {
        match field {
            Field::Id => &self.id,
            Field::Name => &self.name,
            Field::Type => &self.r#type,
            Field::State => &self.state,
            Field::Location => &self.location,
            Field::Created => &self.created,
            Field::Attr(k) => self.attributes.get(k).map(String::as_str).unwrap_or_default(),
        }
    }
}

/// One cloud resource, whatever the provider.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudRow {
    pub provider: String,
    /// e.g. `ec2`, `s3`, `compute`, `storage`, `vm`, `blob`.
    pub service: String,
    /// e.g. `Instance`, `Bucket`, `VirtualMachine`, `Container`.
    pub kind: String,
    /// The provider's id (instance id, bucket name, resource id).
    pub id: String,
    pub name: String,
    /// Region, zone or location.
    pub location: String,
    /// Instance type, machine type, VM size; empty where it does not apply.
    #[serde(default)]
    pub r#type: String,
    /// running, stopped, …; empty where it does not apply.
    #[serde(default)]
    pub state: String,
    /// RFC 3339, when known.
    #[serde(default)]
    pub created: String,
    /// Provider-specific columns (see [`Service::columns`]).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip() {
        for s in Service::ALL {
            assert_eq!(Service::parse(s.as_str()), Some(s));
        }
        assert_eq!(Service::parse("aws.lambda"), None);
        assert_eq!(Service::AwsS3.provider(), v1::Provider::Aws);
        let op = v1::Op {
            kind: Some(v1::op::Kind::CloudList(v1::CloudList { service: "azure.vm".into(), ..Default::default() })),
        };
        assert_eq!(
            (op.name(), op.provider(), op.verb_class()),
            ("azure.vm.list", v1::Provider::Azure, v1::VerbClass::Read)
        );
    }
}

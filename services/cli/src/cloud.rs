//! `planton aws|gcp|azure …`: cloud resource listings through the runner, printed from the common row
//! model (`schemas::cloud::CloudRow`) like kubectl's tables, or as JSON/YAML.

use clap::{Args, Subcommand};
use cloudops_api::{CloudOpBody, Items};
use cloudops_schemas::cloud::{CloudRow, Service};

use crate::{Ctx, Result, printers};

/// Where a listing goes: a connection (else the env's or org's default for the provider).
#[derive(Args, Debug, Clone, Default)]
pub struct CloudTarget {
    #[arg(long)]
    pub connection: Option<String>,
    /// table (default), json or yaml.
    #[arg(short, long, value_parser = ["table", "json", "yaml"], default_value = "table")]
    pub output: String,
}

#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// EC2 instances.
    Ec2 {
        #[command(subcommand)]
        command: Ec2Command,
    },
    /// S3 buckets.
    S3 {
        #[command(subcommand)]
        command: S3Command,
    },
}

#[derive(Subcommand, Debug)]
pub enum Ec2Command {
    /// Instances in a region (every page): id, name, type, state, zone, IPs, launch time.
    List {
        #[command(flatten)]
        target: CloudTarget,
        /// Defaults to the connection's region.
        #[arg(long)]
        region: Option<String>,
        /// NAME=VALUE[,VALUE…], repeatable: tag:team=payments, instance-state-name=running, …
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum S3Command {
    /// Buckets: name, region, creation date.
    List {
        #[command(flatten)]
        target: CloudTarget,
    },
}

pub async fn aws(ctx: &mut Ctx<'_, '_>, cmd: AwsCommand) -> Result<()> {
    match cmd {
        AwsCommand::Ec2 { command: Ec2Command::List { target, region, filters } } => {
            let body = CloudOpBody { region: region.unwrap_or_default(), filters, ..Default::default() };
            list(ctx, Service::AwsEc2, &target, body).await
        }
        AwsCommand::S3 { command: S3Command::List { target } } => {
            list(ctx, Service::AwsS3, &target, Default::default()).await
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum GcpCommand {
    /// Compute Engine instances.
    Compute {
        #[command(subcommand)]
        command: GceCommand,
    },
    /// Cloud Storage buckets.
    Storage {
        #[command(subcommand)]
        command: GcsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum GceCommand {
    /// Instances (every page), in every zone unless --zone is given: name, zone, machine type,
    /// status, internal and external IP.
    List {
        #[command(flatten)]
        target: CloudTarget,
        /// Defaults to the connection's project.
        #[arg(long)]
        project: Option<String>,
        /// One zone; without it, all zones (an aggregated list).
        #[arg(long)]
        zone: Option<String>,
        /// A Compute Engine filter expression, e.g. 'status = RUNNING' or 'labels.team = payments'.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GcsCommand {
    /// Buckets: name, location, storage class, creation time.
    List {
        #[command(flatten)]
        target: CloudTarget,
        /// Defaults to the connection's project.
        #[arg(long)]
        project: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AzureCommand {
    /// Virtual machines.
    Vm {
        #[command(subcommand)]
        command: AzureVmCommand,
    },
    /// Blob containers.
    Blob {
        #[command(subcommand)]
        command: AzureBlobCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AzureVmCommand {
    /// Virtual machines (every page): name, resource group, location, size, power state.
    List {
        #[command(flatten)]
        target: CloudTarget,
        /// Defaults to the connection's subscription.
        #[arg(long)]
        subscription: Option<String>,
        /// Only this resource group; defaults to the connection's, else the whole subscription.
        #[arg(long)]
        resource_group: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AzureBlobCommand {
    /// Containers of a storage account: name, last modified, public access, lease state.
    List {
        #[command(flatten)]
        target: CloudTarget,
        /// The storage account; defaults to the connection's.
        #[arg(long)]
        account: Option<String>,
    },
}

pub async fn gcp(ctx: &mut Ctx<'_, '_>, cmd: GcpCommand) -> Result<()> {
    match cmd {
        GcpCommand::Compute { command: GceCommand::List { target, project, zone, filter } } => {
            let body = CloudOpBody {
                project: project.unwrap_or_default(),
                zone: zone.unwrap_or_default(),
                filters: filter.into_iter().collect(),
                ..Default::default()
            };
            list(ctx, Service::GcpCompute, &target, body).await
        }
        GcpCommand::Storage { command: GcsCommand::List { target, project } } => {
            let body = CloudOpBody { project: project.unwrap_or_default(), ..Default::default() };
            list(ctx, Service::GcpStorage, &target, body).await
        }
    }
}

pub async fn azure(ctx: &mut Ctx<'_, '_>, cmd: AzureCommand) -> Result<()> {
    match cmd {
        AzureCommand::Vm { command: AzureVmCommand::List { target, subscription, resource_group } } => {
            let body = CloudOpBody {
                subscription: subscription.unwrap_or_default(),
                resource_group: resource_group.unwrap_or_default(),
                ..Default::default()
            };
            list(ctx, Service::AzureVm, &target, body).await
        }
        AzureCommand::Blob { command: AzureBlobCommand::List { target, account } } => {
            let body = CloudOpBody { account: account.unwrap_or_default(), ..Default::default() };
            list(ctx, Service::AzureBlob, &target, body).await
        }
    }
}

async fn list(ctx: &mut Ctx<'_, '_>, service: Service, t: &CloudTarget, body: CloudOpBody) -> Result<()> {
    let c = ctx.client()?;
    let body = CloudOpBody {
        org: ctx.org().ok().unwrap_or_default(),
        env: ctx.env().unwrap_or_default(),
        connection: t.connection.clone().unwrap_or_default(),
        ..body
    };
    let path = format!("/v1/ops/cloud/{}", service.as_str().replace('.', "/"));
    let v: Items<CloudRow> = c.post_as(&path, &body).await?;
    match t.output.as_str() {
        "json" => ctx.out(&printers::json(&serde_json::to_value(&v).expect("json"))),
        "yaml" => ctx.out(&printers::yaml(&serde_json::to_value(&v).expect("json"))),
        _ if v.items.is_empty() => ctx.note("No resources found."),
        _ => ctx.out(&table(service, &v.items)),
    }
    Ok(())
}

fn or_none(s: &str) -> String {
    if s.is_empty() { "<none>".into() } else { s.to_string() }
}

/// kubectl-like columns per service, from the common rows.
pub fn table(service: Service, rows: &[CloudRow]) -> String {
    let cols = service.columns();
    let mut out = vec![cols.iter().map(|c| c.header.to_string()).collect::<Vec<_>>()];
    out.extend(rows.iter().map(|r| cols.iter().map(|c| or_none(r.cell(c.field))).collect()));
    printers::tabwrite(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_and_s3_tables() {
        let mut i = CloudRow {
            id: "i-1".into(),
            name: "web".into(),
            r#type: "t3.micro".into(),
            state: "running".into(),
            location: "eu-west-1a".into(),
            created: "2026-11-21T08:00:00Z".into(),
            ..Default::default()
        };
        i.attributes.insert("private_ip".into(), "10.0.0.5".into());
        let t = table(Service::AwsEc2, &[i]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ID") && lines[0].contains("PRIVATE-IP") && lines[0].ends_with("CREATED"), "{t}");
        assert!(lines[1].contains("10.0.0.5") && lines[1].contains("<none>"), "{t}");
        let b = CloudRow { id: "logs".into(), name: "logs".into(), location: "us-east-1".into(), ..Default::default() };
        assert!(table(Service::AwsS3, &[b]).lines().nth(1).unwrap().starts_with("logs"));
    }
}

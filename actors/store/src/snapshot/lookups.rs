//! What the request path looks up in a [`Snapshot`], by the indexes it keeps.

use super::Snapshot;
use crate::{cloud_resource, connection, environment, grant, org, principal, runner};

impl Snapshot {
    /// The principal holding an unrevoked, unexpired key with this SHA-256 (see
    /// [`crate::hash_key`]).
    pub fn principal_by_key_hash(&self, hash: &str) -> Option<&principal::Model> {
        let (id, expires) = self.keys.get(hash)?;
        if expires.is_some_and(|t| t <= chrono::Utc::now()) {
            return None;
        }
        self.principals.get(id)
    }

    pub fn principal(&self, id: &str) -> Option<&principal::Model> {
        self.principals.get(id)
    }

    pub fn org(&self, id: &str) -> Option<&org::Model> {
        self.orgs.get(id)
    }

    pub fn org_named(&self, name: &str) -> Option<&org::Model> {
        self.org_by_name.get(name).and_then(|id| self.orgs.get(id))
    }

    pub fn env_named(&self, org_id: &str, name: &str) -> Option<&environment::Model> {
        self.env_by_name.get(&(org_id.to_string(), name.to_string())).and_then(|id| self.envs.get(id))
    }

    /// Every grant a principal holds: its own, and those of its org's groups that its last
    /// sign-in listed.
    pub fn grants_of(&self, principal_id: &str) -> Vec<&grant::Model> {
        let own = self.grants_of.get(principal_id).into_iter().flatten();
        let groups = match (self.groups_of.get(principal_id), self.principals.get(principal_id)) {
            (Some(names), Some(p)) => names
                .iter()
                .filter_map(|g| self.group_ids.get(&(p.org_id.clone(), g.clone())))
                .filter_map(|gid| self.grants_of.get(gid))
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        own.chain(groups).collect()
    }

    pub fn connection(&self, id: &str) -> Option<&connection::Model> {
        self.connections.get(id)
    }

    pub fn connection_named(&self, org_id: &str, name: &str) -> Option<&connection::Model> {
        self.conn_by_name.get(&(org_id.to_string(), name.to_string())).and_then(|id| self.connections.get(id))
    }

    /// The default connection of `provider` for an env ("" for the org).
    pub fn default_connection(&self, org_id: &str, env_id: &str, provider: &str) -> Option<&connection::Model> {
        self.defaults
            .get(org_id)?
            .iter()
            .find(|d| d.env_id == env_id && d.provider == provider)
            .and_then(|d| self.connections.get(&d.connection_id))
    }

    /// The environments whose default connection (any provider) is `connection_id`.
    pub fn envs_defaulting_to(&self, connection_id: &str) -> Vec<String> {
        let Some(org) = self.connections.get(connection_id).map(|c| &c.org_id) else { return Vec::new() };
        self.defaults
            .get(org)
            .into_iter()
            .flatten()
            .filter(|d| d.connection_id == connection_id && !d.env_id.is_empty())
            .map(|d| d.env_id.clone())
            .collect()
    }

    pub fn resource(&self, org_id: &str, env_id: &str, kind: &str, name: &str) -> Option<&cloud_resource::Model> {
        self.catalog.get(org_id)?.get(&(env_id.to_string(), kind.to_string(), name.to_string()))
    }

    pub fn runner(&self, id: &str) -> Option<&runner::Model> {
        self.runners.get(id)
    }

    /// The default runner of an org (`Some`) or of the platform (`None`).
    pub fn default_runner(&self, org_id: Option<&str>) -> Option<&runner::Model> {
        self.default_runners.get(org_id.unwrap_or("")).and_then(|id| self.runners.get(id))
    }
}

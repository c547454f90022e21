//! A typed handle's reference to its own actor instance.
//!
//! The supervisor fills the slot when it spawns the actor and again when it restarts it, so a
//! handle survives restarts without a global name: two control planes in one process each
//! reach their own actors.

use std::sync::{Arc, RwLock};

use ractor::{ActorRef, Message};

use crate::BusError;

pub struct Slot<M: Message> {
    role: &'static str,
    actor: Arc<RwLock<Option<ActorRef<M>>>>,
}

impl<M: Message> Clone for Slot<M> {
    fn clone(&self) -> Self {
        Self { role: self.role, actor: self.actor.clone() }
    }
}

impl<M: Message> Slot<M> {
    /// An empty slot for the actor playing `role` (named in errors).
    pub fn new(role: &'static str) -> Self {
        Self { role, actor: Arc::default() }
    }

    /// The supervisor's side: the instance now serving.
    pub fn fill(&self, actor: ActorRef<M>) {
        *self.actor.write().unwrap_or_else(|e| e.into_inner()) = Some(actor);
    }

    pub fn get(&self) -> Result<ActorRef<M>, BusError> {
        self.actor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| BusError::ActorUnavailable(format!("{} not started", self.role)))
    }

    /// Whether `cell` is the instance in this slot.
    pub fn holds(&self, cell: &ractor::ActorCell) -> bool {
        self.actor.read().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|a| a.get_id() == cell.get_id())
    }
}

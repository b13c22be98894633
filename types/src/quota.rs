//! Qdrant 1.19's node-wide resource quota (`GET/PUT /quotas`): cluster-wide
//! limits on each data node's resident memory and disk, kept by the control
//! plane with the topology and enforced by every data node on its own usage.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};

/// How far below its limit a tripped resource has to fall before writes are
/// taken again, when the config leaves it unset.
pub const DEFAULT_RELEASE_MARGIN_PERCENT: u8 = 5;

/// `QuotaConfig`, in Qdrant's shape. Limits left out do not apply, and none
/// applies while `enabled` is false.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct QuotaConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resident_memory_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk_usage_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_margin_percent: Option<u8>,
}

impl QuotaConfig {
    /// Qdrant's range rules, in its validator's words (422).
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        for (field, value) in [
            (
                "max_resident_memory_percent",
                self.max_resident_memory_percent,
            ),
            ("max_disk_usage_percent", self.max_disk_usage_percent),
        ] {
            if let Some(v) = value.filter(|v| !(1..=100).contains(v)) {
                errors.push(format!("{field}: value {v} invalid, must be from 1 to 100"));
            }
        }
        if let Some(v) = self.release_margin_percent.filter(|v| *v > 100) {
            errors.push(format!(
                "release_margin_percent: value {v} invalid, must be 100 or smaller"
            ));
        }
        if errors.is_empty() {
            return Ok(());
        }
        Err(TesseraError::validation(format!("[{}]", errors.join(", "))))
    }

    /// The limit on `resource` in force: none while disabled or unset.
    pub fn limit(&self, resource: Resource) -> Option<u8> {
        if !self.enabled {
            return None;
        }
        match resource {
            Resource::ResidentMemory => self.max_resident_memory_percent,
            Resource::DiskUsage => self.max_disk_usage_percent,
        }
    }

    pub fn release_margin(&self) -> u8 {
        self.release_margin_percent
            .unwrap_or(DEFAULT_RELEASE_MARGIN_PERCENT)
    }
}

/// A resource the quota caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    ResidentMemory,
    DiskUsage,
}

impl Resource {
    pub const ALL: [Resource; 2] = [Resource::ResidentMemory, Resource::DiskUsage];

    /// Qdrant's refusal of a write while `used` is at or past the level it is
    /// held to: the limit, or, once tripped, `threshold` below it.
    pub fn refusal(self, used: u8, limit: u8, threshold: u8) -> TesseraError {
        let (what, total, remedy, parameter) = match self {
            Resource::ResidentMemory => (
                "Resident memory usage",
                "total memory",
                "Reduce memory usage",
                "max_resident_memory_percent",
            ),
            Resource::DiskUsage => (
                "Disk usage",
                "total capacity",
                "Reduce disk usage",
                "max_disk_usage_percent",
            ),
        };
        // Below the limit, saying it is exceeded would be untrue: the node is
        // waiting for the release margin instead.
        let condition = if used >= limit {
            format!("{what} is at {used}% of {total}, exceeding the configured limit of {limit}%")
        } else {
            format!(
                "{what} is at {used}% of {total}. It reached the configured limit of {limit}% \
                 and has to fall below {threshold}% before this node takes writes again"
            )
        };
        TesseraError::InsufficientStorage(format!(
            "{condition}. Help: {remedy} (e.g. delete points or drop collections), \
             or raise `{parameter}` in the global quota config."
        ))
    }
}

/// What one data node reports about its usage and the quota it enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeQuotaUsage {
    /// Percentages, rounded down; none where the platform cannot tell.
    pub resident_memory_percent: Option<u8>,
    pub disk_usage_percent: Option<u8>,
    /// Per resource whether the node refuses writes over it; none where the
    /// resource is not enforced (no limit, or not measurable).
    pub resident_memory_exceeded: Option<bool>,
    pub disk_usage_exceeded: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_as_qdrant_checks_them() {
        let config: QuotaConfig = serde_json::from_str(r#"{"max_disk_usage_percent": 0}"#).unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "Validation error in JSON body: [max_disk_usage_percent: value 0 invalid, must be from 1 to 100]"
        );
        let ok: QuotaConfig = serde_json::from_str(r#"{"release_margin_percent": 0}"#).unwrap();
        assert!(ok.validate().is_ok());
        assert_eq!(ok.release_margin(), 0);
        assert_eq!(
            serde_json::to_value(QuotaConfig::default()).unwrap(),
            serde_json::json!({"enabled": false})
        );
    }

    #[test]
    fn refusals_are_worded_as_qdrant_words_them() {
        assert_eq!(
            Resource::ResidentMemory.refusal(91, 90, 90).to_string(),
            "Insufficient storage: Resident memory usage is at 91% of total memory, exceeding \
             the configured limit of 90%. Help: Reduce memory usage (e.g. delete points or drop \
             collections), or raise `max_resident_memory_percent` in the global quota config."
        );
    }
}

//! Backrunner Kubernetes operator: Bucket and AclPolicy reconciliation (issue 5, not yet built).

//! Backrunner HTTP data plane: the Backrunner-compatible REST API over Elliptics (issue 4, not yet built).

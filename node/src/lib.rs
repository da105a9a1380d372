//! Elliptics-compatible storage node.

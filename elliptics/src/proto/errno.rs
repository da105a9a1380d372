//! Linux errno values as Elliptics puts them in `dnet_cmd.status` (negated), and their
//! names for errors and logs.

#[allow(missing_docs)]
pub mod code {
    pub const EPERM: i32 = -1;
    pub const ENOENT: i32 = -2;
    pub const EIO: i32 = -5;
    pub const ENXIO: i32 = -6;
    pub const E2BIG: i32 = -7;
    pub const ENOEXEC: i32 = -8;
    pub const EAGAIN: i32 = -11;
    pub const ENOMEM: i32 = -12;
    pub const EBUSY: i32 = -16;
    pub const EEXIST: i32 = -17;
    pub const EINVAL: i32 = -22;
    pub const EFBIG: i32 = -27;
    pub const ENOSPC: i32 = -28;
    pub const EROFS: i32 = -30;
    pub const EPIPE: i32 = -32;
    pub const ERANGE: i32 = -34;
    pub const ENODATA: i32 = -61;
    pub const EPROTO: i32 = -71;
    pub const EBADFD: i32 = -77;
    pub const EILSEQ: i32 = -84;
    pub const EMSGSIZE: i32 = -90;
    pub const EOPNOTSUPP: i32 = -95;
    pub const ECONNRESET: i32 = -104;
    pub const ETIMEDOUT: i32 = -110;
    pub const ECONNREFUSED: i32 = -111;
    pub const EHOSTUNREACH: i32 = -113;
    pub const EALREADY: i32 = -114;
    pub const EUCLEAN: i32 = -117;
    pub const EDQUOT: i32 = -122;
    pub const ECANCELED: i32 = -125;
}

/// The symbolic name of a (negative or positive) errno, e.g. `-2` → `"ENOENT"`.
pub fn name(status: i32) -> &'static str {
    match -status.abs() {
        code::EPERM => "EPERM",
        code::ENOENT => "ENOENT",
        code::EIO => "EIO",
        code::ENXIO => "ENXIO",
        code::E2BIG => "E2BIG",
        code::ENOEXEC => "ENOEXEC",
        code::EAGAIN => "EAGAIN",
        code::ENOMEM => "ENOMEM",
        code::EBUSY => "EBUSY",
        code::EEXIST => "EEXIST",
        code::EINVAL => "EINVAL",
        code::EFBIG => "EFBIG",
        code::ENOSPC => "ENOSPC",
        code::EROFS => "EROFS",
        code::EPIPE => "EPIPE",
        code::ERANGE => "ERANGE",
        code::ENODATA => "ENODATA",
        code::EPROTO => "EPROTO",
        code::EBADFD => "EBADFD",
        code::EILSEQ => "EILSEQ",
        code::EMSGSIZE => "EMSGSIZE",
        code::EOPNOTSUPP => "EOPNOTSUPP",
        code::ECONNRESET => "ECONNRESET",
        code::ETIMEDOUT => "ETIMEDOUT",
        code::ECONNREFUSED => "ECONNREFUSED",
        code::EHOSTUNREACH => "EHOSTUNREACH",
        code::EALREADY => "EALREADY",
        code::EUCLEAN => "EUCLEAN",
        code::EDQUOT => "EDQUOT",
        code::ECANCELED => "ECANCELED",
        0 => "OK",
        _ => "EUNKNOWN",
    }
}

# Shell functions shared by the start scripts of the backrunner chart (POSIX sh; needs getent).
# Elliptics announces and compares IP addresses, so DNS names are resolved here, when the
# pod starts, into the `ip:port:family` form the proxy and the node accept.

# resolve_remote ENTRY: prints one `ip:port:family` line per address of ENTRY
# (`host:port[:family]`; host an IPv4 address, a bracketed IPv6 address or a DNS name).
# Prints nothing when a name does not resolve (yet).
resolve_remote() {
  entry=$1
  case $entry in
    \[*) printf '%s\n' "$entry"; return 0 ;;
  esac
  host=${entry%%:*}
  rest=${entry#*:}
  port=${rest%%:*}
  family=""
  [ "$rest" != "$port" ] && family=${rest#*:}
  case $host in
    *[!0-9.]*) ;;
    *) printf '%s:%s:%s\n' "$host" "$port" "${family:-2}"; return 0 ;;
  esac
  case $family in
    2) db=ahostsv4 ;;
    10) db=ahostsv6 ;;
    *) db=ahosts ;;
  esac
  getent "$db" "$host" 2>/dev/null | awk '{print $1}' | sort -u | while read -r ip; do
    case $ip in
      *:*) printf '[%s]:%s:10\n' "$ip" "$port" ;;
      *) printf '%s:%s:2\n' "$ip" "$port" ;;
    esac
  done
}

# resolve_remotes "A,B,..." : every address of every entry, comma-separated (may be empty).
resolve_remotes() {
  old_ifs=$IFS
  IFS=,
  set -f
  # shellcheck disable=SC2086
  set -- $1
  set +f
  IFS=$old_ifs
  for entry in "$@"; do
    [ -n "$entry" ] && resolve_remote "$entry"
  done | awk 'NF && !seen[$0]++' | paste -sd, -
}

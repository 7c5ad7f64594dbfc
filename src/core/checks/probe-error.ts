/**
 * What kind of failure a probe's error is, for `heck_probe_errors_total{kind}`: a handful of
 * fixed values, where the error text itself (a status code, a host, a body needle) would make a
 * label of unbounded cardinality.
 *
 * - `timeout`: the probe's deadline passed (DNS lookup, connect, TLS, headers or body);
 * - `dns`: the name did not resolve;
 * - `connect`: the connection was refused or the host or network was unreachable;
 * - `tls`: the TLS handshake or the certificate failed;
 * - `closed`: the connection was reset or closed before the answer was complete;
 * - `status`: the status was outside `expectStatus`;
 * - `body`: the body lacked `bodyContains`;
 * - `protocol`: the answer was not valid HTTP (or its headers too large);
 * - `denied`: the target address was refused by `--deny-private-targets`;
 * - `other`: anything else.
 */
export type ProbeErrorKind =
  | "timeout"
  | "dns"
  | "connect"
  | "tls"
  | "closed"
  | "status"
  | "body"
  | "protocol"
  | "denied"
  | "other";

export const PROBE_ERROR_KINDS: readonly ProbeErrorKind[] = [
  "timeout",
  "dns",
  "connect",
  "tls",
  "closed",
  "status",
  "body",
  "protocol",
  "denied",
  "other",
];

/**
 * Sorts a probe's error text (ProbeResult.error, as the prober words it: "connect timeout after
 * 500 ms", "getaddrinfo ENOTFOUND", "connect ECONNREFUSED", "tls CERT_HAS_EXPIRED", "status 503
 * not in 200-399", ...) into a {@link ProbeErrorKind}.
 */
export function probeErrorKind(error: string): ProbeErrorKind {
  if (/^status \d/.test(error)) return "status";
  if (error.startsWith("body lacks")) return "body";
  if (/^target \S+ refused/.test(error)) return "denied";
  if (/\btimeout\b|ETIMEDOUT/.test(error)) return "timeout";
  if (/^getaddrinfo |^query|ENOTFOUND|EAI_AGAIN|ENODATA/.test(error)) return "dns";
  if (/^tls |CERT|SSL|TLS/.test(error)) return "tls";
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN|EADDRNOTAVAIL/.test(error)) return "connect";
  if (/ECONNRESET|EPIPE|ECONNABORTED|connection closed|socket hang up|other side closed/.test(error)) {
    return "closed";
  }
  if (/^invalid response|headers too large|too many redirects|redirect/.test(error)) return "protocol";
  return "other";
}

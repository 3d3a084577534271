// The one host:port parser for the addresses the function listens on (the
// gRPC server and /metrics), Go-style: ":9443" means every interface, and
// IPv6 literals come in brackets ("[::]:9443").

export interface HostPort {
  /** The host without IPv6 brackets; "0.0.0.0" where the address had none (":9443"). */
  host: string;
  port: number;
}

/** Splits host:port with a port of 0–65535 (0: any free port); undefined when `address` is not that. */
export function splitHostPort(address: string): HostPort | undefined {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/**
 * SO_REUSEPORT for the listeners of a failover pair on one host: the new
 * master binds the service port while the old one still holds it, so a
 * handover has no moment where nobody listens. Node has `reusePort` for
 * net.Server.listen() and dgram.createSocket() since 22.12 and 23.1; older
 * versions silently ignore the option (then the new master retries its bind
 * each advert until the old master has closed, as before). Linux only here:
 * other kernels spread connections differently or refuse the option.
 */
export function reusePortSupported(version: string = process.versions.node, platform: string = process.platform): boolean {
  if (platform !== 'linux') return false;
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

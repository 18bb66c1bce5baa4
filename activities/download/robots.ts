/** X-Robots-Tag directives that opt an image out of AI training or image indexing. */
const OPT_OUT = new Set(['noai', 'noimageai', 'noindex', 'noimageindex', 'none']);

/** Directives that carry a value after a colon, so "name: value" is not a user-agent prefix. */
const VALUED = new Set(['unavailable_after', 'max-snippet', 'max-image-preview', 'max-video-preview']);

/**
 * Whether X-Robots-Tag header values opt out of use by `botName` (the product token of our User-Agent).
 * Values are comma lists of directives, optionally scoped by a user-agent prefix ("googlebot: noindex");
 * a scoped directive applies only when the prefix is ours or "*". Multiple headers are all considered.
 */
export function robotsOptOut(values: string | string[] | undefined, botName: string): string | undefined {
  if (!values) return undefined;
  const bot = botName.toLowerCase();
  for (const value of Array.isArray(values) ? values : [values]) {
    let scope: string | undefined; // a user-agent prefix applies to the directives after it
    for (const raw of value.split(',')) {
      let token = raw.trim().toLowerCase();
      const colon = token.indexOf(':');
      if (colon > 0) {
        const head = token.slice(0, colon).trim();
        if (!VALUED.has(head)) {
          scope = head;
          token = token.slice(colon + 1).trim();
        }
      }
      for (const directive of token.split(/\s+/)) {
        if (OPT_OUT.has(directive) && (scope === undefined || scope === '*' || scope === bot)) return directive;
      }
    }
  }
  return undefined;
}

/** The product token of a User-Agent ("InternetExplorerBot/0.1 (...)" → "internetexplorerbot"). */
export function botToken(userAgent: string): string {
  return (userAgent.split(/[\s/]/)[0] ?? userAgent).toLowerCase();
}

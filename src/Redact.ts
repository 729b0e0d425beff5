/**
 * Keeping secrets out of text: the one redaction helper. Driver messages, tool stderr, deploy
 * reports and health details pass through here before anything prints or stores them, so a URL
 * password (raw or percent-decoded) never reaches a log, an error, a manifest or a report.
 */
import * as Redacted from "effect/Redacted"

/** What a secret is replaced with. */
export const mask = "***"

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** The passwords in URLs, raw and percent-decoded (a URL that does not parse has none). */
export const passwordsOf = (urls: ReadonlyArray<string | Redacted.Redacted<string>>): ReadonlyArray<string> =>
  urls.flatMap((url) => {
    try {
      const password = new URL(Redacted.isRedacted(url) ? Redacted.value(url) : url).password
      if (password === "") return []
      const plain = decoded(password)
      return plain === password ? [password] : [password, plain]
    } catch {
      return []
    }
  })

/** A function that replaces every one of `secrets` in a text with `***`. */
export const scrubber = (secrets: ReadonlyArray<string>) => {
  // Longest first, so a secret that contains another is masked whole.
  const present = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length)
  return (text: string): string => present.reduce((acc, secret) => acc.split(secret).join(mask), text)
}

/** `text` without the password of `url` (raw or percent-decoded). */
export const scrubUrl = (text: string, url: string | Redacted.Redacted<string>): string =>
  scrubber(passwordsOf([url]))(text)

// The one redaction helper: URL passwords, raw and percent-decoded, are masked in any text; a
// secret inside another is masked whole; URLs that do not parse give no secret.
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Redact from "../src/Redact.js"

describe("Redact", () => {
  it("masks a URL's password in both its forms, from a string or a Redacted URL", () => {
    const url = "postgres://app:p%40ss%2Fw0rd@db.internal:5432/shop"
    expect(Redact.passwordsOf([url])).toEqual(["p%40ss%2Fw0rd", "p@ss/w0rd"])
    const text = "auth failed for p@ss/w0rd (sent p%40ss%2Fw0rd)"
    expect(Redact.scrubUrl(text, url)).toBe("auth failed for *** (sent ***)")
    expect(Redact.scrubUrl(text, Redacted.make(url))).toBe("auth failed for *** (sent ***)")
    expect(Redact.scrubUrl("nothing secret", "postgres://app@db/shop")).toBe("nothing secret")
    expect(Redact.passwordsOf(["not a url", "postgres://u:@h/d"])).toEqual([])
  })

  it("masks the longest secret first, so one inside another leaves nothing behind", () => {
    expect(Redact.scrubber(["abc", "xxabcxx"])("key xxabcxx and abc")).toBe("key *** and ***")
    expect(Redact.scrubber([])("unchanged")).toBe("unchanged")
  })
})

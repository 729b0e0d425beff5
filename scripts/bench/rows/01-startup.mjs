// Whole-process startup: `dbkit --help` vs a bare `node -e 0` (the bar: dbkit --help within 4x node -e 0).
export async function rows(ctx) {
  const env = ctx.childEnv()
  const [dbkit, baseline] = await ctx.compare([
    ctx.processSide("dbkit --help", ctx.node, ["bin/dbkit.mjs", "--help"], { env }),
    ctx.processSide("node -e 0", ctx.node, ["-e", "0"], { env })
  ])
  return [ctx.row({ operation: "startup: dbkit --help", dbkit, baseline, baselineName: "node -e 0" })]
}

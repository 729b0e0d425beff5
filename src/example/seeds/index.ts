/**
 * dbkit's reference seeds: reference data (permissions, global roles, a chart of accounts for
 * every organization) that runs everywhere, and development data (organizations, users,
 * customers, invoices with lines and payments) generated deterministically outside production.
 *
 * Declared reference first; the Seeder orders by dependencies, so a development run goes
 * permissions → roles → organizations → chart_of_accounts → users → customers → invoices.
 */
import type { Seed } from "dbkit"
import { developmentProfileSeeds } from "./development.js"
import { referenceProfileSeeds } from "./reference.js"

export { customers, developmentProfileSeeds, invoices, organizations, users } from "./development.js"
export {
  chartOfAccounts,
  chartOfAccountsList,
  permissionList,
  permissions,
  referenceProfileSeeds,
  roleList,
  rolePermissionList,
  roles
} from "./reference.js"
export { MissingPrerequisite, OrganizationNotFound, sizes } from "./shared.js"

export const referenceSeeds: ReadonlyArray<Seed> = [...referenceProfileSeeds, ...developmentProfileSeeds]

/**
 * The reference schema's personal data: who a person is (`users.email`, `customers.email`), what
 * is held about them, how erasure treats it, and what the law makes us keep. `dbkit privacy …`
 * reads this file (DBKIT_PRIVACY_MAP names another one); `privacy map` prints it and warns about
 * columns that look personal but are declared nowhere.
 */
import { definePrivacy, personalData } from "dbkit"
import { accounts, customers } from "./accounting.js"
import { auditLog } from "./audit.js"
import { roles, users } from "./auth.js"
import { organizations } from "./tenancy.js"

export default definePrivacy({
  auditLog,
  tables: [
    personalData(users, {
      subject: users.email,
      onErase: "delete",
      columns: {
        email: { category: "email", erase: "pseudonymize" },
        name: { category: "name", erase: "redact" }
      }
    }),
    personalData(customers, {
      subject: customers.email,
      onErase: "keep",
      reason: "invoices and payments reference the customer; commercial and tax law keep them for 10 years",
      columns: {
        name: { category: "name", erase: "redact" },
        email: { category: "email", erase: "pseudonymize" },
        phone: { category: "phone", erase: "null" },
        address: { category: "address", erase: "null" },
        taxId: { category: "tax_id", erase: "null", encrypted: true }
      }
    })
  ],
  // Names of things, not of people.
  notPersonal: [accounts.name, roles.name, organizations.name]
})

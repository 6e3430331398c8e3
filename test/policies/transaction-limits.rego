# Policy for the transaction-state tests of row budgets: reads inside a block return at most
# 3 rows per result, outside a block they are not limited.
package portcullis

import rego.v1

default allow := false

allow if input.statement.class in {"read", "transaction"}

# Reads inside a block: at most 3 rows per result. Outside: unlimited.
limits := {"max_rows": 3} if {
	input.statement.class == "read"
	input.session.in_transaction
}

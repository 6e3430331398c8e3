# Policy for the transaction-state tests: reads and transaction control are allowed;
# DELETE only inside a transaction block (so it can be rolled back), INSERT only outside one.
package portcullis

import rego.v1

default allow := false

# COPY (a write) is allowed for the tests of COPY behind a held message.
allow if input.statement.command == "COPY"

allow if input.statement.class in {"read", "transaction"}

allow if {
	input.statement.command == "DELETE"
	input.session.in_transaction
}

allow if {
	input.statement.command == "INSERT"
	not input.session.in_transaction
}

# Reads return at most 3 rows: a result cut inside a block aborts the block.
limits := {"max_rows": 3} if input.statement.class == "read"

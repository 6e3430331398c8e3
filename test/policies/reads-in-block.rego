# Policy for the transaction-state test of WITH HOLD cursors: reads only inside a block.
package portcullis

import rego.v1

default allow := false

allow if input.statement.class == "transaction"

# Reads only inside a transaction block.
allow if {
	input.statement.class == "read"
	input.session.in_transaction
}

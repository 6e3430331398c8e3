# Policy for the gw-mask level: as bench.rego, and abalance is masked on every result row.
package portcullis

import rego.v1

default allow := false

pgbench_only if {
	every r in input.statement.relations {
		r.schema == "public"
		startswith(r.name, "pgbench_")
	}
}

allow if {
	"bench" in input.identity.groups
	input.statement.class in {"read", "write"}
	pgbench_only
}

allow if {
	"bench" in input.identity.groups
	input.statement.class in {"transaction", "session"}
}

mask["public.pgbench_accounts.abalance"] := "null" if not "pii" in input.identity.groups

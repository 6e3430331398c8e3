# Policy for the gw-policy level: the bench identity may read and write the pgbench tables.
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

deny contains "only the pgbench tables" if {
	input.statement.class in {"ddl", "dcl"}
}

# A column rule as a policy author first writes it: reads are allowed, except any that reads
# customers.card (by name or within the whole row); only built-in functions may run; the
# group "owners" may do anything.
package portcullis

import rego.v1

default allow := false

allow if input.statement.class == "read"

allow if "owners" in input.identity.groups

deny contains "customers.card may not be read" if {
	some c in input.statement.columns
	c.table == "customers"
	c.column in {"card", "*"}
}

deny contains sprintf("function %s.%s is not allowed", [f.schema, f.name]) if {
	not "owners" in input.identity.groups
	some f in input.statement.functions
	f.schema != "pg_catalog"
}

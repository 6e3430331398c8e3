# Policy for the real-client tests: everything is allowed except the table `secrets`.
package portcullis

import rego.v1

default allow := false

secret if {
	some r in input.statement.relations
	r.name == "secrets"
}

allow if not secret

deny contains "the secrets table is off limits" if secret

# Everything is allowed; a statement whose text says "limited" gets 200 ms.
package portcullis

import rego.v1

default allow := true

limits := {"timeout_ms": 200} if contains(input.statement.text, "limited")

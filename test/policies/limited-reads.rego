# Everything is allowed; a read returns at most 5 rows.
package portcullis

import rego.v1

default allow := true

limits := {"max_rows": 5} if input.statement.class == "read"

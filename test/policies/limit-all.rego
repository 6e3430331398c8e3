# Everything is allowed; every statement returns at most 5 rows (writes with RETURNING too).
package portcullis

import rego.v1

default allow := true

limits := {"max_rows": 5}

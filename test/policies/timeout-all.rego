# Everything is allowed; every statement has 300 ms (writes and COPY too).
package portcullis

import rego.v1

default allow := true

limits := {"timeout_ms": 300}

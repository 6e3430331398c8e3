# Everything is allowed, with a row limit no test result reaches: what the session does
# around limited statements (it holds what is pipelined behind them in a block) must not
# change any answer.
package portcullis

import rego.v1

default allow := true

limits := {"max_rows": 1000000}

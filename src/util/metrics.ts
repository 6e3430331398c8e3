// Prometheus-style counters, gauges and histograms, rendered as text for /metrics.

type Labels = Record<string, string>;

const keyCache = new WeakMap<Labels, string>();

/** Label set → series key; constant label objects are rendered once. */
function key(labels: Labels): string {
  let k = keyCache.get(labels);
  if (k === undefined) keyCache.set(labels, (k = render(labels)));
  return k;
}

function render(labels: Labels): string {
  const ks = Object.keys(labels);
  if (ks.length === 0) return '';
  return (
    '{' + ks.map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`).join(',') + '}'
  );
}

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const [k, v] of this.values) out += `${this.name}${k} ${v}\n`;
    return out;
  }
}

export class Gauge {
  private value = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  add(by: number): void {
    this.value += by;
  }
  set(v: number): void {
    this.value = v;
  }
  get(): number {
    return this.value;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.value}\n`;
  }
}

/** A constant 1 whose labels say what runs (the policy's version). */
export class Info {
  private labels: Labels = {};
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels): void {
    this.labels = labels;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name}${render(this.labels)} 1\n`;
  }
}

/** Fixed-bucket histogram in seconds. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[] = [
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5,
    ],
  ) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += this.counts[i];
      out += `${this.name}_bucket{le="${this.buckets[i]}"} ${cum}\n`;
    }
    out += `${this.name}_bucket{le="+Inf"} ${this.count}\n${this.name}_sum ${this.sum}\n${this.name}_count ${this.count}\n`;
    return out;
  }
}

export class Metrics {
  readonly connections = new Gauge(
    'portcullis_client_connections',
    'Client connections currently open',
  );
  readonly connectionsTotal = new Counter(
    'portcullis_client_connections_total',
    'Client connections accepted',
  );
  readonly authFailures = new Counter(
    'portcullis_auth_failures_total',
    'Failed client authentications',
  );
  readonly upstreamConnections = new Gauge(
    'portcullis_upstream_connections',
    'Upstream connections open',
  );
  readonly statements = new Counter('portcullis_statements_total', 'Statements by decision');
  readonly decisionSeconds = new Histogram(
    'portcullis_decision_seconds',
    'Time to analyse and decide one client message',
    [0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
  );
  readonly statementSeconds = new Histogram(
    'portcullis_statement_seconds',
    'Time from forwarding a query or sync to its ReadyForQuery',
  );
  readonly protocolErrors = new Counter(
    'portcullis_protocol_errors_total',
    'Clients cut for protocol violations',
  );
  readonly upstreamLoginFailures = new Counter(
    'portcullis_upstream_login_failures_total',
    'Upstream logins that failed (unreachable, refused credential), by target',
  );
  readonly reloads = new Counter(
    'portcullis_config_reloads_total',
    'Configuration and policy reloads, by result (ok, failed)',
  );
  readonly policy = new Info('portcullis_policy_info', 'The policy running, by version');

  render(): string {
    return [
      this.connections,
      this.connectionsTotal,
      this.authFailures,
      this.upstreamConnections,
      this.statements,
      this.decisionSeconds,
      this.statementSeconds,
      this.protocolErrors,
      this.upstreamLoginFailures,
      this.reloads,
      this.policy,
    ]
      .map((m) => m.render())
      .join('');
  }
}

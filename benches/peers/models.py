"""SimPy and Ciw models of esreplay's inline, pool:N and edf:N.

The same semantics as docs/simulator.md with transport, response latency
and hand-off all zero (the defaults):

- inline: one FIFO server; r_i = max(a_i, r_{i-1}) + s_i;
- pool:N: N servers, jobs started in arrival order;
- edf:N: N servers, non-preemptive; a freed server takes the waiting job
  with the smallest (deadline, global_seq, index), NOTIFY (no deadline)
  last.

Ties: a job that arrives at t is visible to a server that frees at t. The
models enforce it by processing arrivals before releases at equal times
(SimPy, edf:N: the release waits on an event scheduled after every
ordinary one at that instant; Ciw: the arrival node wins ties between
nodes). In FIFO order the tie cannot change a response time. For
edf:N, messages arriving at the same nanosecond are offered in key order,
so a server that is idle then takes the smallest key, as esreplay does.

Each model returns the response time r_i of every message, by stream
index, and the CPU and wall seconds spent simulating (loading excluded).
"""

import json
import time

import ciw
import simpy

NO_DEADLINE = 2**64 - 1
# After SimPy's URGENT (0) and NORMAL (1) events at the same instant.
LATE = 2


def load(path, const_ns=None):
    """Records (arrival, key, service) from an `esreplay export jsonl` file."""
    records = []
    with open(path) as lines:
        for index, line in enumerate(lines):
            m = json.loads(line)
            deadline = m.get("deadline_ns")
            if m["action"] != "auth" or deadline is None:
                deadline = NO_DEADLINE
            service = const_ns if const_ns is not None else m.get("service_ns")
            if service is None:
                raise SystemExit(f"{path}:{index + 1}: no service_ns: use --cost const:D")
            records.append((m["arrival_ns"], (deadline, m["global_seq"], index), service))
    for before, after in zip(records, records[1:]):
        if after[0] < before[0]:
            raise SystemExit("arrivals out of order: the peer models assume kernel order")
    return records


def parse(strategy):
    """('fifo' or 'edf', servers) for inline, pool:N, edf:N."""
    if strategy == "inline":
        return "fifo", 1
    kind, _, n = strategy.partition(":")
    if kind not in ("pool", "edf") or not n.isdigit() or int(n) < 1:
        raise SystemExit(f"unsupported strategy {strategy}: inline, pool:N or edf:N")
    return ("fifo" if kind == "pool" else "edf"), int(n)


def offer_order(records, kind):
    """Stream order; for EDF, same-nanosecond arrivals by key."""
    order = list(range(len(records)))
    if kind == "edf":
        order.sort(key=lambda i: (records[i][0], records[i][1]))
    return order


def simpy_run(records, strategy):
    kind, servers = parse(strategy)
    env = simpy.Environment()
    if kind == "edf":
        resource = simpy.PriorityResource(env, capacity=servers)
    else:
        resource = simpy.Resource(env, capacity=servers)
    response = [0] * len(records)

    def job(index, key, service):
        request = resource.request(priority=key) if kind == "edf" else resource.request()
        yield request
        yield env.timeout(service)
        response[index] = env.now
        if kind == "edf":
            late = env.event()
            late._ok = True
            late._value = None
            env.schedule(late, priority=LATE)
            yield late
        resource.release(request)

    def source():
        for index in offer_order(records, kind):
            arrival, key, service = records[index]
            if arrival > env.now:
                yield env.timeout(arrival - env.now)
            env.process(job(index, key, service))

    start, cpu = time.perf_counter(), time.process_time()
    env.process(source())
    env.run()
    return response, time.process_time() - cpu, time.perf_counter() - start


class _Sequence(ciw.dists.Distribution):
    """Inter-arrival gaps from a list, then never again."""

    def __init__(self, gaps):
        self.gaps = iter(gaps)

    def sample(self, t=None, ind=None):
        return next(self.gaps, float("inf"))


class _PerCustomer(ciw.dists.Distribution):
    """Customer k (1-based, in arrival order) takes values[k - 1]."""

    def __init__(self, values):
        self.values = values

    def sample(self, t=None, ind=None):
        return self.values[ind.id_number - 1]


class _ArrivalsFirst(ciw.Simulation):
    """Arrivals before service completions at the same instant."""

    def find_next_active_node(self):
        best = min(self.active_nodes, key=lambda node: node.next_event_date)
        arrivals = self.nodes[0]
        if arrivals.next_event_date == best.next_event_date:
            return arrivals
        return best


def ciw_run(records, strategy):
    kind, servers = parse(strategy)
    order = offer_order(records, kind)
    arrivals = [records[i][0] for i in order]
    gaps = [float(b - a) for a, b in zip([0] + arrivals, arrivals)]
    keys = [records[i][1] for i in order]

    def earliest_deadline(individuals, t):
        return min(individuals, key=lambda ind: keys[ind.id_number - 1])

    network = ciw.create_network(
        arrival_distributions=[_Sequence(gaps)],
        service_distributions=[_PerCustomer([float(records[i][2]) for i in order])],
        number_of_servers=[servers],
        service_disciplines=[earliest_deadline if kind == "edf" else ciw.disciplines.FIFO],
    )
    start, cpu = time.perf_counter(), time.process_time()
    ciw.seed(0)
    simulation = _ArrivalsFirst(network)
    simulation.simulate_until_max_customers(len(records), method="Complete")
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - start
    response = [0] * len(records)
    for record in simulation.get_all_records():
        response[order[record.id_number - 1]] = round(record.service_end_date)
    return response, cpu, elapsed

"""Users' UDF code in sandboxed child processes: how they are started (launch), what passes
between them and us (wire), what runs inside (guest), the pool that keeps them warm and
within their limits (pool), and the runtime they offer (runtime). Free of HTTP and of
openEO processes; `processes.udf` is the one caller."""

"""What a crawl's URL form adds per link: each base-form call against the same call in
the default form (parameters sorted) or with a drop list, interleaved in one process,
best of 41 rounds of process time (the machine may be shared).

    python benchmarks/url_form_cost.py
"""
import random
import time

from crawler import urls
from crawler.engine.admission import canonical_in

FORM = urls.DEFAULT_FORM
DROP = urls.Canonicalizer(drop=("utm_*", "fbclid", "gclid", "jsessionid", "sid"))
rng = random.Random(1)
ORIGIN = "http://127.0.0.1:8765"
plain = [f"../p/{rng.randrange(10**7)}.html" for _ in range(2000)]
query = [f"/view.html?id={rng.randrange(10**7)}&cat={rng.randrange(9)}" for _ in range(2000)]


def timed(fn, items):
    t = time.process_time()
    for x in items:
        fn(x)
    return time.process_time() - t


def compare(name, old, new, items, repeats=41):
    a = b = float("inf")
    for _ in range(repeats):
        a = min(a, timed(old, items))
        b = min(b, timed(new, items))
    n = len(items)
    print(f"{name:34s} base {a / n * 1e9:6.0f} ns   form {b / n * 1e9:6.0f} ns   "
          f"+{(b - a) / n * 1e9:5.0f} ns")


compare("join_plain, no query", lambda h: urls.join_plain(ORIGIN, "/p", h),
        lambda h: FORM.join_plain(ORIGIN, "/p", h), plain)
compare("join_plain, query (sorted)", lambda h: urls.join_plain(ORIGIN, "/p", h),
        lambda h: FORM.join_plain(ORIGIN, "/p", h), query)
compare("join_plain, query (drop list)", lambda h: urls.join_plain(ORIGIN, "/p", h),
        lambda h: DROP.join_plain(ORIGIN, "/p", h), query)
full_plain = [ORIGIN + "/p/" + h[3:] for h in plain]
full_query = [ORIGIN + h for h in query]
compare("apply alone, no query", lambda u: u, FORM.apply, full_plain)
compare("apply alone, query", lambda u: u, FORM.apply, full_query)


def sched(form):
    def run(u):
        canonical_in(form)(u)  # a fresh cache: every call a miss
    return run


compare("scheduler miss, no query", sched(urls.BASE_FORM), sched(FORM), full_plain[:500])
compare("scheduler miss, query", sched(urls.BASE_FORM), sched(FORM), full_query[:500])
hit_base, hit_form = canonical_in(urls.BASE_FORM), canonical_in(FORM)
for u in full_query:
    hit_base(u), hit_form(u)
compare("scheduler hit, query", hit_base, hit_form, full_query)

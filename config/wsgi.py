import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# What is loaded by now (Django, the apps, the URL conf, the compiled
# statements) lives as long as the worker. Frozen, the cyclic collector no
# longer scans it on every full collection; a larger first generation runs
# the collector less often per request. Together about 4-10% of a request's
# CPU, measured in-process (docs/PERFORMANCE.md, "The floor, lever by lever").
gc.collect()
gc.freeze()
gc.set_threshold(int(os.environ.get("GC_GEN0_THRESHOLD", "50000")), 10, 10)

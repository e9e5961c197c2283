"""Drives stampede's Toxiproxy API with the unmodified Python client (toxiproxy-python).

usage: toxiproxy_python.py API_HOST:PORT create NAME UPSTREAM   -> prints the listen address
       toxiproxy_python.py API_HOST:PORT latency NAME MS         -> adds a latency toxic
       toxiproxy_python.py API_HOST:PORT remove NAME TOXIC       -> removes a toxic
"""
import sys

from toxiproxy import Toxiproxy

api, action, name, arg = sys.argv[1:5]
host, port = api.rsplit(":", 1)
server = Toxiproxy()
server.update_api_consumer(host, int(port))
assert server.running(), "the API does not accept connections"
if action == "create":
    proxy = server.create(upstream=arg, name=name, listen="127.0.0.1:0")
    assert server.get_proxy(name) is not None
    print(proxy.listen)
elif action == "latency":
    proxy = server.get_proxy(name)
    proxy.add_toxic(type="latency", attributes={"latency": int(arg)})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None and toxic.attributes["latency"] == int(arg), proxy.toxics()
    print("added", toxic.name)
elif action == "remove":
    proxy = server.get_proxy(name)
    assert proxy.destroy_toxic(arg)
    assert proxy.get_toxic(arg) is None
    print("removed", arg)
else:
    sys.exit("unknown action " + action)

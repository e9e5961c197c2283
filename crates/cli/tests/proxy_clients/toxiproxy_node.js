// Drives stampede's Toxiproxy API with the unmodified Node client (toxiproxy-node-client).
//
// usage: node toxiproxy_node.js API_HOST:PORT create NAME UPSTREAM   -> prints the listen address
//        node toxiproxy_node.js API_HOST:PORT latency NAME MS         -> adds a latency toxic
//        node toxiproxy_node.js API_HOST:PORT remove NAME TOXIC       -> removes a toxic
const { Toxiproxy } = require("toxiproxy-node-client");

async function main() {
  const [api, action, name, arg] = process.argv.slice(2);
  const toxiproxy = new Toxiproxy(`http://${api}`);
  if (action === "create") {
    const proxy = await toxiproxy.createProxy({ name, listen: "127.0.0.1:0", upstream: arg });
    const all = await toxiproxy.getAll();
    if (!all[name]) throw new Error("the new proxy is not listed");
    console.log(proxy.listen);
  } else if (action === "latency") {
    const proxy = await toxiproxy.get(name);
    const toxic = await proxy.addToxic({
      type: "latency",
      stream: "downstream",
      toxicity: 1,
      attributes: { latency: Number(arg), jitter: 0 },
    });
    if (toxic.attributes.latency !== Number(arg)) throw new Error("wrong toxic " + JSON.stringify(toxic));
    console.log("added", toxic.name);
  } else if (action === "remove") {
    const proxy = await toxiproxy.get(name);
    const toxic = await proxy.getToxic(arg);
    await toxic.remove();
    let gone = false;
    try {
      await proxy.getToxic(arg);
    } catch (e) {
      gone = true; // the API answers 404
    }
    if (!gone) throw new Error("the toxic is still there");
    console.log("removed", arg);
  } else {
    throw new Error("unknown action " + action);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

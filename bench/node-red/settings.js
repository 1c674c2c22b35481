/**
 * Node-RED settings for bench/compare.py: an editor and admin API on 127.0.0.1 only, no
 * credential encryption (the flow has no credentials), nothing persisted outside --userDir.
 *
 * bench/compare.py starts Node-RED as
 *   node <cache>/node_modules/node-red/red.js --settings bench/node-red/settings.js \
 *        --userDir <temporary directory> --port <free port> <temporary directory>/flow.json
 * with these environment variables, which the flow reads as ${NAME} properties:
 *   WARDLINK_BENCH_MQTT_HOST, WARDLINK_BENCH_MQTT_PORT      the broker
 *   WARDLINK_BENCH_INFLUX_HOST, WARDLINK_BENCH_INFLUX_PORT  influxd (1.x HTTP API, no auth)
 *   WARDLINK_BENCH_INFLUX_DB                                the database to write to
 *   WARDLINK_BENCH_BINDINGS                                 a JSON file {gateway: {channel:
 *                                                          {measurement, tags}}}, the same
 *                                                          table the Wardlink workers resolve with
 */
const fs = require("fs");

const bindingsFile = process.env.WARDLINK_BENCH_BINDINGS;

module.exports = {
    flowFile: "flow.json",
    credentialSecret: false,
    flowFilePretty: true,
    uiHost: "127.0.0.1",
    httpAdminRoot: "/",
    httpNodeRoot: "/",
    logging: {
        console: {level: "info", metrics: false, audit: false},
    },
    // Read by the function node as global.get("wardlinkBindings").
    functionGlobalContext: {
        wardlinkBindings: bindingsFile ? JSON.parse(fs.readFileSync(bindingsFile, "utf8")) : {},
    },
    exportGlobalContextKeys: false,
    contextStorage: {default: {module: "memory"}},
    editorTheme: {
        projects: {enabled: false},
        tours: false,
    },
    diagnostics: {enabled: false, ui: false},
    runtimeState: {enabled: false, ui: false},
    telemetry: {enabled: false},
};

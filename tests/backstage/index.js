// A Backstage backend with only the catalog: what the aiops catalog adapter talks to.
// Port and service token come from the environment (see app-config.yaml), so the test
// script can pick a free port and a fresh token for every run.
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.start();

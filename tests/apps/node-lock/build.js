// The build script: writes what the server answers, so the answer shows that `npm run build` ran.
require("fs").writeFileSync("built.txt", "node-lock sample (built)\n");

const fs = require("fs");
const http = require("http");
const ms = require("ms"); // the one dependency, from the npm registry

const body = `${fs.readFileSync("built.txt", "utf8").trim()}, ms says ${ms(60000)}\n`;
http
  .createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/plain" });
    response.end(body);
  })
  .listen(Number(process.env.PORT));

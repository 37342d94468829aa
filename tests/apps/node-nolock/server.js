const http = require("http");

http
  .createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/plain" });
    response.end("node-nolock sample\n");
  })
  .listen(Number(process.env.PORT));

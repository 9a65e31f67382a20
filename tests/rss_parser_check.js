// Reads an RSS file with npm's rss-parser (a consumer nobody here wrote, which treats the
// description as HTML, as many web readers do) and prints its items as JSON, one object each:
// title, link, guid, isoDate, categories, creator, content (the description's HTML) and
// contentSnippet (that HTML as text).
// Usage: node rss_parser_check.js FEED.xml   (NODE_PATH must point at rss-parser's node_modules)
const Parser = require("rss-parser");
const fs = require("fs");
new Parser()
  .parseString(fs.readFileSync(process.argv[2], "utf8"))
  .then((feed) => {
    for (const i of feed.items) {
      console.log(JSON.stringify({
        title: i.title, link: i.link, guid: i.guid, isoDate: i.isoDate, categories: i.categories || [],
        creator: i.creator, content: i.content, contentSnippet: i.contentSnippet,
      }));
    }
  })
  .catch((e) => { console.error(e.message); process.exit(1); });

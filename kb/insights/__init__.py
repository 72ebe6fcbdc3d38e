"""Manager insights over the knowledge base: the redacted query log (`querylog`), content gaps (`gaps`),
ticket coverage (`tickets`), SOP health (`health`), the QA dashboard (`qa`), charts (`charts`) and the
`deskbook report` commands (`cli`, `cli_qa`). See docs/insights.md."""

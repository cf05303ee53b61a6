"""`switchboard import calls|mail ...`: a company's past calls and mail, as another intake.

The import parses with the live intakes' own code (ingest-calls' provider adapters,
ingest-mail's parser pool and limits), gives every event the id the live path gives it, marks
it `historical`, and publishes it on the history topics (`calls.recorded.history.v1`,
`mail.received.history.v1`), which the classifier reads behind its live consumers.
"""

__version__ = "0.1.0"

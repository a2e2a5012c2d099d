.PHONY: run test bench lint

run:  ## set up, migrate, load demo data, create the demo admin and serve on 127.0.0.1:8000
	bin/run

test:  ## set up and run lint plus the whole suite on every database this machine offers
	bin/test

bench:  ## set up, then benchmark W1-W11 on SQLite and PostgreSQL, and on DynamoDB when AWS_ENDPOINT_URL_DYNAMODB is set, against the raw driver and eventsourcing (about 18 minutes, 26 with DynamoDB Local)
	bin/setup dev && .venv/bin/pip install --quiet -r requirements-bench.txt && .venv/bin/python -m bench $(BENCH_ARGS)

lint:
	bin/setup dev && .venv/bin/ruff check . && .venv/bin/ruff format --check . && DJANGO_SECRET_KEY=lint-only .venv/bin/mypy -p eventstore -p carts -p config

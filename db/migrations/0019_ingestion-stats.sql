CREATE TABLE "ingestion_stats" (
	"source" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"shard" smallint NOT NULL,
	"accepted" bigint DEFAULT 0 NOT NULL,
	"duplicates" bigint DEFAULT 0 NOT NULL,
	"rejected" bigint DEFAULT 0 NOT NULL,
	"last_received_at" timestamp with time zone NOT NULL,
	CONSTRAINT "ingestion_stats_pkey" PRIMARY KEY("source","hour","shard"),
	CONSTRAINT "ingestion_stats_source_check" CHECK ("ingestion_stats"."source" in ('api', 'otlp', 'litellm', 'import')),
	CONSTRAINT "ingestion_stats_counts_check" CHECK ("ingestion_stats"."accepted" >= 0 and "ingestion_stats"."duplicates" >= 0 and "ingestion_stats"."rejected" >= 0)
);

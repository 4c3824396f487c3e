CREATE TABLE "read_fences" (
	"principal" text PRIMARY KEY NOT NULL,
	"wal_position" bigint NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL
);

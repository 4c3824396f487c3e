CREATE TABLE "usage_unpriced_notices" (
	"model" text NOT NULL,
	"day" date NOT NULL,
	"event_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_unpriced_notices_model_day_pk" PRIMARY KEY("model","day")
);

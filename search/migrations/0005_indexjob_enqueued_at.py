from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0004_repository_term_scheme"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexjob",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

"""The public status page's words, in English and French, and the reader's choice of them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel.dates import format_date, format_datetime

LOCALES = ("en", "fr")
DEFAULT = "en"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Status",
        "skip": "Skip to content",
        "none": "All systems operational",
        "minor": "Some services are degraded",
        "major": "Partial outage",
        "critical": "Major outage",
        "maintenance": "Maintenance in progress",
        "operational": "Operational",
        "degraded_performance": "Degraded performance",
        "partial_outage": "Partial outage",
        "major_outage": "Major outage",
        "under_maintenance": "Under maintenance",
        "services": "Services",
        "open_incidents": "Current incidents",
        "past_incidents": "Past incidents",
        "no_past": "No incidents in the last 90 days.",
        "history": "Last 90 days of {name}",
        "uptime": "{n} of {total} days without incident",
        "days_ago": "90 days ago",
        "today": "Today",
        "eta": "Expected back",
        "workaround": "Workaround",
        "cause": "Cause",
        "affects": "Affected",
        "declared": "Started",
        "resolved_at": "Resolved",
        "updates": "Updates",
        "declared_status": "Investigating",
        "investigating": "Investigating",
        "identified": "Identified",
        "monitoring": "Monitoring",
        "resolved": "Resolved",
        "minor_impact": "Minor",
        "major_impact": "Major",
        "critical_impact": "Critical",
        "times": "Times are in UTC unless your browser shows them in your own time zone.",
        "updated": "Page updated",
        "back": "All systems",
        "feeds": "Follow: Atom feed, RSS feed, JSON",
        "language": "Language",
        "not_found": "No such incident on this page.",
        "other": "Other",
        "maintenance_active": "Maintenance in progress",
        "maintenance_upcoming": "Planned maintenance",
        "starts": "Starts",
        "ends": "Ends",
        "subscribe": "Get updates",
        "subscribe_intro": "Choose the services you use; we will tell you when they have a problem "
        "or planned maintenance.",
        "by_email": "By email",
        "by_sms": "By SMS",
        "how": "How to reach you",
        "address": "Email address or phone number",
        "choose": "Services",
        "subscribe_button": "Subscribe",
        "check_inbox": "Check your inbox: we sent a link to confirm. Nothing else is sent "
        "until you confirm.",
        "confirm_title": "Confirm your subscription",
        "confirm_button": "Confirm",
        "code": "The code we sent by SMS",
        "code_button": "Confirm the code",
        "manage_title": "Your subscription",
        "save": "Save",
        "cancel_button": "Cancel my subscription",
        "saved": "Saved.",
        "cancelled": "Your subscription is cancelled: you will get no more messages.",
        "subscribed_to": "You are subscribed to updates about the services ticked below.",
        "too_many": "Too many requests from your address; try again later.",
    },
    "fr": {
        "title": "État des services",
        "skip": "Aller au contenu",
        "none": "Tous les services fonctionnent",
        "minor": "Certains services sont ralentis",
        "major": "Panne partielle",
        "critical": "Panne majeure",
        "maintenance": "Maintenance en cours",
        "operational": "Opérationnel",
        "degraded_performance": "Performances dégradées",
        "partial_outage": "Panne partielle",
        "major_outage": "Panne majeure",
        "under_maintenance": "En maintenance",
        "services": "Services",
        "open_incidents": "Incidents en cours",
        "past_incidents": "Incidents passés",
        "no_past": "Aucun incident ces 90 derniers jours.",
        "history": "Les 90 derniers jours de {name}",
        "uptime": "{n} jours sur {total} sans incident",
        "days_ago": "Il y a 90 jours",
        "today": "Aujourd’hui",
        "eta": "Retour prévu",
        "workaround": "Solution de contournement",
        "cause": "Cause",
        "affects": "Concerne",
        "declared": "Début",
        "resolved_at": "Résolu",
        "updates": "Mises à jour",
        "declared_status": "Analyse en cours",
        "investigating": "Analyse en cours",
        "identified": "Cause identifiée",
        "monitoring": "Sous surveillance",
        "resolved": "Résolu",
        "minor_impact": "Mineur",
        "major_impact": "Majeur",
        "critical_impact": "Critique",
        "times": "Heures en UTC, sauf si votre navigateur les affiche dans votre fuseau.",
        "updated": "Page mise à jour",
        "back": "Tous les services",
        "feeds": "Suivre : flux Atom, flux RSS, JSON",
        "language": "Langue",
        "not_found": "Cet incident n’est pas sur cette page.",
        "other": "Autres",
        "maintenance_active": "Maintenance en cours",
        "maintenance_upcoming": "Maintenances prévues",
        "starts": "Début",
        "ends": "Fin",
        "subscribe": "Recevoir les nouvelles",
        "subscribe_intro": "Choisissez les services que vous utilisez ; nous vous préviendrons "
        "de leurs pannes et maintenances.",
        "by_email": "Par e-mail",
        "by_sms": "Par SMS",
        "how": "Comment vous joindre",
        "address": "Adresse e-mail ou numéro de téléphone",
        "choose": "Services",
        "subscribe_button": "S’abonner",
        "check_inbox": "Consultez votre messagerie : nous avons envoyé un lien de confirmation. "
        "Rien d’autre ne vous sera envoyé avant.",
        "confirm_title": "Confirmez votre abonnement",
        "confirm_button": "Confirmer",
        "code": "Le code reçu par SMS",
        "code_button": "Valider le code",
        "manage_title": "Votre abonnement",
        "save": "Enregistrer",
        "cancel_button": "Annuler mon abonnement",
        "saved": "Enregistré.",
        "cancelled": "Votre abonnement est annulé : vous ne recevrez plus de messages.",
        "subscribed_to": "Vous êtes abonné aux nouvelles des services cochés ci-dessous.",
        "too_many": "Trop de demandes depuis votre adresse ; réessayez plus tard.",
    },
}


def choose_locale(accept_language: str | None, asked: str | None = None) -> str:
    """`?lang=` if it is one we speak, else the best of Accept-Language, else English."""
    if asked in LOCALES:
        assert asked is not None
        return asked
    best, best_q = DEFAULT, -1.0
    for part in (accept_language or "")[:500].split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if language in LOCALES and q > best_q:
            best, best_q = language, q
    return best


def utc_time(value: datetime, locale: str) -> str:
    """The time as shown without JavaScript: in UTC, in the reader's language."""
    return f"{format_datetime(value, 'd MMM y, HH:mm', tzinfo=UTC, locale=locale)} UTC"


def utc_day(value: date, locale: str) -> str:
    return format_date(value, "medium", locale=locale)

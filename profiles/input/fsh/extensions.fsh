// Extensions of the pathway. Contexts are as narrow as the pathway allows.

Extension: OncoLinkParcoursExt
Id: oncolink-parcours
Title: "Parcours A/B"
Description: "Parcours de l'épisode : A si le médicament est dispensable en officine, B s'il est en réserve hospitalière."
* ^context[0].type = #element
* ^context[=].expression = "CarePlan"
* ^context[+].type = #element
* ^context[=].expression = "ChargeItem"
* value[x] 1..1
* value[x] only Coding
* valueCoding from OncoLinkParcoursVS (required)

Extension: OncoLinkSequenceNumberExt
Id: oncolink-sequence-number
Title: "Numéro de séquence"
Description: "Séquence en cours d'un épisode, ou séquence décrite par un plan de séquence ou facturée par un forfait."
* ^context[0].type = #element
* ^context[=].expression = "CarePlan"
* ^context[+].type = #element
* ^context[=].expression = "ChargeItem"
* value[x] 1..1
* value[x] only Coding
* valueCoding from OncoLinkSequenceVS (required)

Extension: OncoLinkSequenceRenewalExt
Id: oncolink-sequence-renewal
Title: "Rang du renouvellement"
Description: "0 pour la première séquence d'un numéro donné, puis 1, 2… à chaque renouvellement (séquences 2 et 3)."
* ^context[0].type = #element
* ^context[=].expression = "CarePlan"
* value[x] 1..1
* value[x] only unsignedInt

Extension: OncoLinkHospitalReserveExt
Id: oncolink-hospital-reserve
Title: "Réserve hospitalière"
Description: "Vrai si le médicament est en réserve hospitalière (dispensation par la pharmacie à usage intérieur), ce qui conduit au parcours B."
* ^context[0].type = #element
* ^context[=].expression = "MedicationRequest"
* value[x] 1..1
* value[x] only boolean

Extension: OncoLinkSequence3AllowedExt
Id: oncolink-sequence3-allowed
Title: "Séquence 3 possible"
Description: "Vrai si le traitement permet de passer en séquence 3 (suivi allégé de six mois)."
* ^context[0].type = #element
* ^context[=].expression = "MedicationRequest"
* ^context[+].type = #element
* ^context[=].expression = "CarePlan"
* value[x] 1..1
* value[x] only boolean

Extension: OncoLinkTelemonitoringExt
Id: oncolink-telemonitoring
Title: "Télésurveillance"
Description: "Vrai si le patient a choisi la télésurveillance avec questionnaire hebdomadaire."
* ^context[0].type = #element
* ^context[=].expression = "CarePlan"
* value[x] 1..1
* value[x] only boolean

Extension: OncoLinkAlertColourExt
Id: oncolink-alert-colour
Title: "Couleur d'alerte"
Description: "Couleur attribuée par le tri : sur la réponse au questionnaire, le signalement et la tâche qui en découlent."
* ^context[0].type = #element
* ^context[=].expression = "QuestionnaireResponse"
* ^context[+].type = #element
* ^context[=].expression = "Flag"
* ^context[+].type = #element
* ^context[=].expression = "Task"
* value[x] 1..1
* value[x] only Coding
* valueCoding from OncoLinkAlertColourVS (required)

Extension: OncoLinkIdentityStatusExt
Id: oncolink-identity-status
Title: "Statut de l'identité"
Description: "Statut de l'identité du patient (PID-32 des messages HL7 v2 hospitaliers)."
* ^context[0].type = #element
* ^context[=].expression = "Patient"
* value[x] 1..1
* value[x] only Coding
* valueCoding from OncoLinkIdentityStatusVS (required)
